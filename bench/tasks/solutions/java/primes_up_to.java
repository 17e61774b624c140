import java.util.ArrayList;
import java.util.List;

class Solution {
    public static int[] primesUpTo(int limit) {
        List<Integer> primes = new ArrayList<>();
        for (int number = 2; number <= limit; number++) {
            boolean prime = true;
            for (int divisor = 2; divisor * divisor <= number; divisor++) {
                if (number % divisor == 0) {
                    prime = false;
                    break;
                }
            }
            if (prime) {
                primes.add(number);
            }
        }
        return primes.stream().mapToInt(Integer::intValue).toArray();
    }
}
