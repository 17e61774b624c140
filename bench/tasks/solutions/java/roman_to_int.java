import java.util.Map;

class Solution {
    public static int romanToInt(String numeral) {
        Map<Character, Integer> values = Map.of(
            'I', 1, 'V', 5, 'X', 10, 'L', 50, 'C', 100, 'D', 500, 'M', 1000);
        int total = 0;
        for (int i = 0; i < numeral.length(); i++) {
            int value = values.get(numeral.charAt(i));
            if (i + 1 < numeral.length() && value < values.get(numeral.charAt(i + 1))) {
                total -= value;
            } else {
                total += value;
            }
        }
        return total;
    }
}
