#include <vector>

std::vector<int> primes_up_to(int limit) {
    std::vector<int> primes;
    for (int number = 2; number <= limit; number++) {
        bool prime = true;
        for (int divisor = 2; divisor * divisor <= number; divisor++) {
            if (number % divisor == 0) {
                prime = false;
                break;
            }
        }
        if (prime) {
            primes.push_back(number);
        }
    }
    return primes;
}
