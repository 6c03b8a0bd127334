package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadReport reports a bulk data report that does not parse.
var ErrBadReport = errors.New("conformance: malformed bulk data report")

// BulkParam is one parameter of a decoded bulk data report, under its
// report name ("UpTime", "Enabled.1.2", "Device.DeviceInfo.UpTime").
type BulkParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Type is the ParameterType column of a ParameterPerRow CSV report;
	// empty otherwise.
	Type string `json:"type,omitempty"`
}

// BulkReport is one report of a transfer (a transfer holds several when
// the agent retained failed ones).
type BulkReport struct {
	// Time is the CollectionTime or ReportTimestamp, as sent; empty when
	// the profile's timestamp format is None.
	Time   string      `json:"time,omitempty"`
	Params []BulkParam `json:"params"`
}

// Names returns the report names of a report's parameters.
func (r BulkReport) Names() []string {
	out := make([]string, len(r.Params))
	for i, p := range r.Params {
		out[i] = p.Name
	}
	return out
}

// Lookup returns the value of the parameter named name.
func (r BulkReport) Lookup(name string) (string, bool) {
	for _, p := range r.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// maxReportDepth bounds the nesting of an ObjectHierarchy report, so that
// a hostile body cannot make the flattening recurse without end.
const maxReportDepth = 64

// ParseJSONReport decodes a JSON bulk data report, {"Report": [{...}]}
// (TR-369's bulk data annex). Each element's members are flattened: an
// ObjectHierarchy report's nested objects become dotted names, so both
// report formats decode to the same names. CollectionTime is the
// report's time, not a parameter.
func ParseJSONReport(b []byte) ([]BulkReport, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var top map[string]json.RawMessage
	if err := d.Decode(&top); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrBadReport, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: JSON: data after the top-level object", ErrBadReport)
	}
	raw, ok := top["Report"]
	if !ok {
		return nil, fmt.Errorf("%w: JSON: no \"Report\" member", ErrBadReport)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%w: JSON: \"Report\" is not an array: %v", ErrBadReport, err)
	}
	var out []BulkReport
	for i, e := range elems {
		var obj map[string]any
		d := json.NewDecoder(bytes.NewReader(e))
		d.UseNumber()
		if err := d.Decode(&obj); err != nil || obj == nil {
			return nil, fmt.Errorf("%w: JSON: Report[%d] is not an object", ErrBadReport, i)
		}
		var rep BulkReport
		if t, ok := obj["CollectionTime"]; ok {
			rep.Time = scalar(t)
			delete(obj, "CollectionTime")
		}
		if err := flatten("", obj, &rep.Params, 0); err != nil {
			return nil, fmt.Errorf("%w: JSON: Report[%d]: %v", ErrBadReport, i, err)
		}
		slices.SortFunc(rep.Params, func(a, b BulkParam) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, rep)
	}
	return out, nil
}

func flatten(prefix string, obj map[string]any, out *[]BulkParam, depth int) error {
	if depth > maxReportDepth {
		return fmt.Errorf("nested deeper than %d objects", maxReportDepth)
	}
	for k, v := range obj {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			if err := flatten(name, v, out, depth+1); err != nil {
				return err
			}
		case []any:
			return fmt.Errorf("%s is an array, not a parameter value", name)
		default:
			*out = append(*out, BulkParam{Name: name, Value: scalar(v)})
		}
	}
	return nil
}

// scalar renders a decoded JSON scalar as the data model would.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// CSVFormat is how a CSV report is laid out: the profile's CSVEncoding
// settings, with TR-181's character references (&#13;&#10;, &quot;)
// already decoded.
type CSVFormat struct {
	Field, Row, Escape string
	// ReportFormat and RowTimestamp, when set, are the layout the header
	// must show: ParameterPerRow wants the ParameterName, ParameterValue
	// and ParameterType columns in that order (R-BULK.12); a RowTimestamp
	// other than None wants ReportTimestamp as the first column, None
	// wants none.
	ReportFormat, RowTimestamp string
}

// DefaultCSVFormat is TR-181's default: comma, CR LF and double quote.
var DefaultCSVFormat = CSVFormat{Field: ",", Row: "\r\n", Escape: `"`}

// ParseCSVReport decodes a CSV bulk data report: a header line, then data
// rows. A header with ParameterName and ParameterValue columns is the
// ParameterPerRow layout (one parameter a row); any other is
// ParameterPerColumn (one report a row, a column a parameter). Rows must
// have as many fields as the header. A ReportTimestamp column gives each
// report its time.
func ParseCSVReport(b []byte, f CSVFormat) ([]BulkReport, error) {
	if f.Field == "" || f.Row == "" || f.Escape == "" || f.Field == f.Escape || strings.Contains(f.Row, f.Field) {
		return nil, fmt.Errorf("%w: CSV: unusable separators %q, %q, %q", ErrBadReport, f.Field, f.Row, f.Escape)
	}
	rows, err := splitCSV(string(b), f)
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%w: CSV: %d lines, want a header and at least one row", ErrBadReport, len(rows))
	}
	head := rows[0]
	for i, r := range rows[1:] {
		if len(r) != len(head) {
			return nil, fmt.Errorf("%w: CSV: row %d has %d fields, the header %d", ErrBadReport, i+1, len(r), len(head))
		}
	}
	ts, name, value, typ := slices.Index(head, "ReportTimestamp"), slices.Index(head, "ParameterName"),
		slices.Index(head, "ParameterValue"), slices.Index(head, "ParameterType")
	if err := checkLayout(head, f, ts, name, value, typ); err != nil {
		return nil, err
	}
	if name >= 0 && value >= 0 {
		var out []BulkReport
		for _, r := range rows[1:] {
			t := ""
			if ts >= 0 {
				t = r[ts]
			}
			if len(out) == 0 || out[len(out)-1].Time != t {
				out = append(out, BulkReport{Time: t})
			}
			p := BulkParam{Name: r[name], Value: r[value]}
			if typ >= 0 {
				p.Type = r[typ]
			}
			out[len(out)-1].Params = append(out[len(out)-1].Params, p)
		}
		return out, nil
	}
	var out []BulkReport
	for _, r := range rows[1:] {
		var rep BulkReport
		for i, h := range head {
			if i == ts {
				rep.Time = r[i]
				continue
			}
			rep.Params = append(rep.Params, BulkParam{Name: h, Value: r[i]})
		}
		out = append(out, rep)
	}
	return out, nil
}

// splitCSV cuts text into rows of fields: RFC 4180 with the separators
// and escape character given. The last row separator is optional.
func splitCSV(s string, f CSVFormat) ([][]string, error) {
	var rows [][]string
	var row []string
	var cell strings.Builder
	for len(s) > 0 {
		switch {
		case cell.Len() == 0 && strings.HasPrefix(s, f.Escape):
			s = s[len(f.Escape):]
			for {
				i := strings.Index(s, f.Escape)
				if i < 0 {
					return nil, fmt.Errorf("%w: CSV: unterminated escaped field", ErrBadReport)
				}
				cell.WriteString(s[:i])
				s = s[i+len(f.Escape):]
				if !strings.HasPrefix(s, f.Escape) {
					break
				}
				cell.WriteString(f.Escape) // a doubled escape character
				s = s[len(f.Escape):]
			}
			if s != "" && !strings.HasPrefix(s, f.Field) && !strings.HasPrefix(s, f.Row) {
				return nil, fmt.Errorf("%w: CSV: text after an escaped field", ErrBadReport)
			}
		case strings.HasPrefix(s, f.Field):
			row = append(row, cell.String())
			cell.Reset()
			s = s[len(f.Field):]
		case strings.HasPrefix(s, f.Row):
			rows = append(rows, append(row, cell.String()))
			row = nil
			cell.Reset()
			s = s[len(f.Row):]
		default:
			if strings.HasPrefix(s, f.Escape) {
				return nil, fmt.Errorf("%w: CSV: escape character inside an unescaped field", ErrBadReport)
			}
			cell.WriteByte(s[0])
			s = s[1:]
		}
	}
	if cell.Len() > 0 || len(row) > 0 {
		rows = append(rows, append(row, cell.String()))
	}
	return rows, nil
}

// checkLayout checks a CSV header against the layout the profile set.
func checkLayout(head []string, f CSVFormat, ts, name, value, typ int) error {
	switch {
	case f.RowTimestamp == "None" && ts >= 0:
		return fmt.Errorf("%w: CSV: a ReportTimestamp column with RowTimestamp None", ErrBadReport)
	case f.RowTimestamp != "" && f.RowTimestamp != "None" && ts != 0:
		return fmt.Errorf("%w: CSV: the header begins %q, want ReportTimestamp (RowTimestamp %s)", ErrBadReport, head[0], f.RowTimestamp)
	}
	perRow := name >= 0 && value >= 0
	switch f.ReportFormat {
	case "ParameterPerRow":
		if !perRow || typ < 0 || value != name+1 || typ != value+1 {
			return fmt.Errorf("%w: CSV: header %q, want ParameterName, ParameterValue and ParameterType columns in that order (ParameterPerRow)", ErrBadReport, head)
		}
	case "ParameterPerColumn":
		if perRow {
			return fmt.Errorf("%w: CSV: header %q is a ParameterPerRow layout, the profile says ParameterPerColumn", ErrBadReport, head)
		}
	}
	return nil
}
