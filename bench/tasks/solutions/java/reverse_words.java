class Solution {
    public static String reverseWords(String sentence) {
        String[] words = sentence.trim().split(" +");
        StringBuilder result = new StringBuilder();
        for (int i = words.length - 1; i >= 0; i--) {
            if (words[i].isEmpty()) {
                continue;
            }
            if (result.length() > 0) {
                result.append(' ');
            }
            result.append(words[i]);
        }
        return result.toString();
    }
}
