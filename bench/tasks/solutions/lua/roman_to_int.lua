function roman_to_int(numeral)
    local values = { I = 1, V = 5, X = 10, L = 50, C = 100, D = 500, M = 1000 }
    local total = 0
    for i = 1, #numeral do
        local value = values[numeral:sub(i, i)]
        local following = values[numeral:sub(i + 1, i + 1)]
        if following and value < following then
            total = total - value
        else
            total = total + value
        end
    end
    return total
end
