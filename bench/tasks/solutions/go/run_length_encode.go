package main

import "strconv"

func runLengthEncode(text string) string {
	runes := []rune(text)
	result := ""
	for index := 0; index < len(runes); {
		end := index
		for end < len(runes) && runes[end] == runes[index] {
			end++
		}
		result += string(runes[index]) + strconv.Itoa(end-index)
		index = end
	}
	return result
}
