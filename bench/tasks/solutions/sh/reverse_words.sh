reverse_words() {
    local words=($1)
    local result=""
    local i
    for ((i = ${#words[@]} - 1; i >= 0; i--)); do
        result+="${result:+ }${words[i]}"
    done
    echo "$result"
}
