longest_common_prefix() {
    if (( $# == 0 )); then
        echo ""
        return
    fi
    local prefix=$1
    local word
    for word in "$@"; do
        while [[ "${word:0:${#prefix}}" != "$prefix" ]]; do
            prefix=${prefix:0:${#prefix}-1}
        done
    done
    echo "$prefix"
}
