package conformance

var section3, section9 []*Case
