function longest_increasing_run(numbers)
    local best, run = 0, 0
    for i = 1, #numbers do
        if i > 1 and numbers[i] > numbers[i - 1] then
            run = run + 1
        else
            run = 1
        end
        if run > best then
            best = run
        end
    end
    return best
end
