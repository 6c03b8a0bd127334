package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gousp/gousp/datamodel"
)

// checkPath parses a path and checks its kind, so that mistakes are caught
// before anything is sent. kinds empty accepts any kind.
func checkPath(what, p string, kinds ...datamodel.PathKind) error {
	if p == "" {
		return usageErrorf("%s: empty path", what)
	}
	parsed, err := datamodel.Parse(p)
	if err != nil {
		return usageErrorf("%s: %v", what, err)
	}
	if len(kinds) > 0 && !slices.Contains(kinds, parsed.Kind()) {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = k.String()
		}
		return usageErrorf("%s: %s is a %s path; expected %s", what, p, parsed.Kind(), strings.Join(names, " or "))
	}
	return nil
}

func checkPaths(what string, paths []string, kinds ...datamodel.PathKind) error {
	for _, p := range paths {
		if err := checkPath(what, p, kinds...); err != nil {
			return err
		}
	}
	return nil
}

var objectKinds = []datamodel.PathKind{datamodel.KindObject, datamodel.KindInstance}

// parseAssignments reads NAME=VALUE arguments. Names must be unique and,
// unless dotted is set, plain parameter names (no dots).
func parseAssignments(what string, args []string, dotted bool) (map[string]string, []string, error) {
	out := make(map[string]string, len(args))
	order := make([]string, 0, len(args))
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, usageErrorf("%s: %q is not NAME=VALUE", what, a)
		}
		if name == "" {
			return nil, nil, usageErrorf("%s: %q has an empty name", what, a)
		}
		if err := checkName(name, dotted); err != nil {
			return nil, nil, usageErrorf("%s: %q: %v", what, a, err)
		}
		if _, dup := out[name]; dup {
			return nil, nil, usageErrorf("%s: %s is given twice", what, name)
		}
		out[name] = value
		order = append(order, name)
	}
	return out, order, nil
}

func checkName(name string, dotted bool) error {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("bad name %q", name)
	}
	if !dotted && strings.Contains(name, ".") {
		return fmt.Errorf("a parameter name relative to the object, without dots, is expected")
	}
	for _, r := range name {
		ok := r == '_' || r == '-' || r == '.' || r == ':' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
		if !ok {
			return fmt.Errorf("character %q is not allowed in a name", r)
		}
	}
	return nil
}
