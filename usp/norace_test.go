//go:build !race

package usp_test

const raceEnabled = false
