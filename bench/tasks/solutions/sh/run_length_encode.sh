run_length_encode() {
    local text=$1
    local result=""
    local index=0
    while (( index < ${#text} )); do
        local char="${text:index:1}"
        local end=$index
        while (( end < ${#text} )) && [[ "${text:end:1}" == "$char" ]]; do
            end=$((end + 1))
        done
        result+="$char$((end - index))"
        index=$end
    done
    echo "$result"
}
