count_vowels() {
    local vowels="${1//[^aeiouAEIOU]/}"
    echo "${#vowels}"
}
