package main

func primesUpTo(limit int) []int {
	primes := []int{}
	for number := 2; number <= limit; number++ {
		prime := true
		for divisor := 2; divisor*divisor <= number; divisor++ {
			if number%divisor == 0 {
				prime = false
				break
			}
		}
		if prime {
			primes = append(primes, number)
		}
	}
	return primes
}
