package usptest

import "strings"

// relParam finds the parameter a relative name gives from object d: a
// parameter of d ("Enable"), or of one of its single-instance sub-objects
// ("HTTP.URL"), which an Add may set when it creates the instance (TR-369
// lets param_settings name a relative path). nil when there is none.
func relParam(d *objDef, name string) *paramDef {
	if !strings.Contains(name, ".") {
		return d.param(name) // the common case, without allocating
	}
	segs := strings.Split(name, ".")
	for _, s := range segs[:len(segs)-1] {
		if d = d.child(s); d == nil || d.multi {
			return nil
		}
	}
	return d.param(segs[len(segs)-1])
}

// setRel sets the value of the parameter name gives from instance o (see
// relParam).
func setRel(o *objInst, name, value string) {
	if !strings.Contains(name, ".") {
		o.setVal(name, value)
		return
	}
	segs := strings.Split(name, ".")
	for _, s := range segs[:len(segs)-1] {
		if o = o.single.get(s); o == nil {
			return
		}
	}
	o.setVal(segs[len(segs)-1], value)
}
