// Package conformance runs the Broadband Forum's test plan for USP agents,
// TP-469, against any agent: each case of the plan is a [Case] value with
// its number, title and functionality tag, a procedure written with the
// gousp API, and the plan's test metrics checked one by one.
//
// # Test equipment
//
// An [Equipment] plays the plan's traffic generator and analyzer over one
// mtp.Transport: it sends typed requests (and, for section 3, records that
// are malformed on purpose), correlates responses by msg_id, keeps
// notifications and connect records in an inbox that cases wait on, and
// answers Notify messages unless a case holds them back. Every record that
// passes, in either direction, is decoded into the case's trace: the
// evidence of its verdict.
//
// # Cases and verdicts
//
// [All] lists the implemented cases in TP-469 order and [Select] picks
// sections, cases or ranges. A [Runner] first reads the agent's supported
// data model ([Env]) to know which TP-469 features it supports, then runs
// each case. A [Result] is [Pass] only when every criterion the procedure
// checked was met and at least one was checked; [Fail] names the metric
// that was not met and what was seen; [Skip] says why the case does not
// apply (a feature the agent lacks, a destructive case not allowed, a
// retired number); [NeedsOperator] marks what only a person can do; [Error]
// means a setup step failed and nothing could be concluded.
//
// # Parameters
//
// TP-469 works on Device.LocalAgent.Subscription. and lets the test
// equipment choose some elements (an asynchronous command, say). [Config],
// read from JSON with [LoadConfig], declares features, chooses elements,
// bounds the waits and lists cases to skip; what it leaves out comes from
// the agent's data model. Alternate elements the kit picks are noted in
// the result, as the plan asks.
//
// # Cleanup
//
// Each case creates the objects its setup needs and removes them
// afterwards, restores the parameters it changes, waits for the operations
// it started, and re-creates what a destructive case had to delete. What
// it could not put back is listed in [Result].Cleanup.
//
// # Running and reports
//
// [RunTests] runs cases as subtests of a *testing.T, so that a vendor's CI
// can gate on TP-469; uspctl conform runs them from the command line.
// A [Report] renders as a text table in the plan's numbering
// ([Report.WriteText]), JSON with the traces ([Report.WriteJSON]), JUnit
// XML ([Report.WriteJUnit]) and one self-contained HTML page
// ([Report.WriteHTML]).
//
// # Coverage
//
// Implemented: section 1 (Messages and Path Names) entirely; 3.1, 3.8,
// 3.9, 3.11, 3.12 and 3.15 (USP Records); 9.1, 9.3, 9.10 and 9.11
// (Functionality). 1.78 needs a second test equipment endpoint
// ([Runner].Secondary) and reports needs-operator without one; 1.92's
// second metric needs a capture of the agent's ICMP traffic. Sections 2,
// 4, 6, 7, 8, 10 and 11, and the rest of 3 and 9, are to come.
package conformance
