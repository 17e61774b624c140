package main

import "strings"

func countVowels(text string) int {
	count := 0
	for _, char := range strings.ToLower(text) {
		if strings.ContainsRune("aeiou", char) {
			count++
		}
	}
	return count
}
