// Package usptest provides an in-process USP agent.
package usptest
