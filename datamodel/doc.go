// Package datamodel handles the names and values of the TR-181 data model as
// USP (TR-369) uses them: paths, search expressions, TR-106 values and the
// schema an Agent reports in GetSupportedDM.
package datamodel
