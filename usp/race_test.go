//go:build race

package usp_test

// raceEnabled trims the slowest tests under the race detector.
const raceEnabled = true
