def primes_up_to(limit)
  (2..limit).select { |number| (2..Math.sqrt(number)).none? { |divisor| (number % divisor).zero? } }
end
