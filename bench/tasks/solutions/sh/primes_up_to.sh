primes_up_to() {
    local limit=$1
    local primes=()
    local number divisor prime
    for ((number = 2; number <= limit; number++)); do
        prime=1
        for ((divisor = 2; divisor * divisor <= number; divisor++)); do
            if (( number % divisor == 0 )); then
                prime=0
                break
            fi
        done
        if (( prime )); then
            primes+=("$number")
        fi
    done
    echo "${primes[*]}"
}
