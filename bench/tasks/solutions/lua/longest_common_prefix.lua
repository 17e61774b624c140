function longest_common_prefix(words)
    if #words == 0 then
        return ""
    end
    local prefix = words[1]
    for _, word in ipairs(words) do
        while word:sub(1, #prefix) ~= prefix do
            prefix = prefix:sub(1, -2)
        end
    end
    return prefix
end
