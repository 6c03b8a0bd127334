//go:build race

package e2e_test

// raceEnabled trims the slowest tests under the race detector.
const raceEnabled = true
