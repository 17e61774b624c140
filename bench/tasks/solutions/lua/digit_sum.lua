function digit_sum(n)
    local sum = 0
    while n > 0 do
        sum = sum + n % 10
        n = n // 10
    end
    return sum
end
