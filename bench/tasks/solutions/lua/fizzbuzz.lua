function fizzbuzz(n)
    if n % 15 == 0 then
        return "FizzBuzz"
    elseif n % 3 == 0 then
        return "Fizz"
    elseif n % 5 == 0 then
        return "Buzz"
    end
    return tostring(n)
end
