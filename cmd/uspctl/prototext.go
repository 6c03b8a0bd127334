package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// writeMessage writes a protobuf message as indented "name: value" lines,
// for people: fields in declaration order, repeated messages numbered,
// map entries sorted by key, strings quoted. Unlike prototext its output
// is stable, so it can be compared and grepped.
func writeMessage(w io.Writer, m protoreflect.Message, indent string) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			// A set oneof member that is empty still shows, as "{}".
			continue
		}
		v := m.Get(fd)
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			fmt.Fprintf(w, "%s%s:\n", indent, name)
			writeMap(w, fd, v.Map(), indent+"  ")
		case fd.IsList():
			l := v.List()
			for j := range l.Len() {
				writeField(w, fmt.Sprintf("%s[%d]", name, j), fd, l.Get(j), indent)
			}
		default:
			writeField(w, name, fd, v, indent)
		}
	}
}

func writeField(w io.Writer, name string, fd protoreflect.FieldDescriptor, v protoreflect.Value, indent string) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		sub := v.Message()
		if isEmpty(sub) {
			fmt.Fprintf(w, "%s%s: {}\n", indent, name)
			return
		}
		fmt.Fprintf(w, "%s%s:\n", indent, name)
		writeMessage(w, sub, indent+"  ")
		return
	}
	fmt.Fprintf(w, "%s%s: %s\n", indent, name, scalarText(fd, v))
}

func writeMap(w io.Writer, fd protoreflect.FieldDescriptor, m protoreflect.Map, indent string) {
	keys := make([]protoreflect.MapKey, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return naturalCompare(a.String(), b.String()) })
	for _, k := range keys {
		writeField(w, mapKeyText(k.String()), fd.MapValue(), m.Get(k), indent)
	}
}

// mapKeyText quotes keys that would not read back as one plain word.
func mapKeyText(k string) string {
	if k == "" || strings.ContainsAny(k, " :\"\t\n") || cell(k) != k {
		return strconv.Quote(k)
	}
	return k
}

func isEmpty(m protoreflect.Message) bool {
	empty := true
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}

func scalarText(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		b := v.Bytes()
		if len(b) > 64 {
			return fmt.Sprintf("%d bytes: %s...", len(b), hex.EncodeToString(b[:64]))
		}
		return fmt.Sprintf("%d bytes: %s", len(b), hex.EncodeToString(b))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	}
	return v.String()
}
