package datamodel

// InstanceLookup gives the value and type of parameter param (relative to the
// object instance, as written in a search expression, e.g. "Enable" or
// "Stats.ErrorsSent") of the instance whose path is instance (e.g.
// "Device.WiFi.Radio.2."). ok is false when there is no such value.
type InstanceLookup func(instance, param string) (value string, typ ValueType, ok bool)

// Match reports whether the concrete path c (names and instance numbers only,
// as Agents write paths in responses and notifications) is one of the paths
// that the pattern p addresses. Names must be equal; an instance number in p
// must be equal; a wildcard "*" or a placeholder "{i}" matches any instance;
// an expression is evaluated on the instance of c with values from lookup
// (nil is allowed when p has no expression; otherwise ErrNeedValues is
// returned). Both paths must have the same form: a parameter path matches
// only parameter paths.
//
// Expression errors (an operator that does not suit the parameter's type) are
// returned as from Expr.Eval. Patterns that follow references cannot be
// matched without resolving them and give an error wrapping ErrNeedValues.
func (p Path) Match(c Path, lookup InstanceLookup) (bool, error) {
	return p.match(c, lookup, false)
}

// Covers reports whether c is matched by p (see Match) or, when p is an object
// or instance path, lies anywhere under what p addresses: the object pattern
// "Device.WiFi.Radio.*." covers "Device.WiFi.Radio.2.Channel" and
// "Device.WiFi.Radio.2.Stats.Noise". Subscriptions' ReferenceList entries
// select notifications this way.
func (p Path) Covers(c Path, lookup InstanceLookup) (bool, error) {
	return p.match(c, lookup, true)
}

// Match is the string form of Path.Match for patterns without expressions,
// e.g. Match("Device.WiFi.Radio.*.Channel", "Device.WiFi.Radio.2.Channel").
func Match(pattern, concrete string) (bool, error) {
	p, err := Parse(pattern)
	if err != nil {
		return false, err
	}
	c, err := Parse(concrete)
	if err != nil {
		return false, err
	}
	return p.Match(c, nil)
}

func (p Path) match(c Path, lookup InstanceLookup, prefix bool) (bool, error) {
	if p.IsZero() || c.IsZero() {
		return false, nil
	}
	if !c.IsConcrete() {
		return false, &PathError{Path: c.s, Pos: -1, Code: CodeInvalidPath,
			Msg: "only a path of names and instance numbers can be matched against a pattern"}
	}
	if p.HasRefFollow() {
		return false, &PathError{Path: p.s, Pos: -1, Code: CodeInvalidPath, Err: ErrNeedValues,
			Msg: "a pattern that follows references must be resolved before matching"}
	}
	switch {
	case len(c.segs) < len(p.segs):
		return false, nil
	case len(c.segs) == len(p.segs):
		if p.kind != c.kind {
			return false, nil
		}
	default: // c is longer: only a partial pattern can cover it
		if !prefix || !p.kind.IsPartial() {
			return false, nil
		}
	}
	// Compare the cheap segments first so that expressions run only on candidates.
	for i, ps := range p.segs {
		cs := c.segs[i]
		switch ps.Kind {
		case SegName:
			if cs.Kind != SegName || cs.Name != ps.Name {
				return false, nil
			}
		case SegInstance:
			if cs.Kind != SegInstance || cs.Instance != ps.Instance {
				return false, nil
			}
		case SegWildcard, SegPlaceholder, SegExpr:
			if cs.Kind != SegInstance {
				return false, nil
			}
		}
	}
	for i, ps := range p.segs {
		if ps.Kind != SegExpr {
			continue
		}
		if lookup == nil {
			return false, &PathError{Path: p.s, Pos: p.segStart(i), Code: CodeInvalidPath, Err: ErrNeedValues,
				Msg: "matching a search expression needs parameter values"}
		}
		inst := c.prefix(i + 1).s
		ok, err := ps.Expr.Eval(func(param string) (string, ValueType, bool) { return lookup(inst, param) })
		if err != nil {
			return false, p.exprErr(i, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// segStart returns the offset of segment i in the canonical text.
func (p Path) segStart(i int) int {
	if i == 0 {
		return 0
	}
	return p.segs[i-1].end + 1
}

// exprErr moves an error from evaluating the expression of segment i into the
// coordinates of the whole path.
func (p Path) exprErr(i int, err error) error {
	pe, ok := err.(*PathError)
	if !ok {
		return err
	}
	out := *pe
	out.Path = p.s
	if pe.Pos >= 0 {
		out.Pos = p.segStart(i) + pe.Pos
	} else {
		out.Pos = p.segStart(i)
	}
	return &out
}
