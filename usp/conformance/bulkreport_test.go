package conformance

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseJSONReport(t *testing.T) {
	nvp := `{"Report":[{"CollectionTime":1364529149,"Enabled.1.1":true,"Enabled.1.2":false,"UpTime":25}]}`
	oh := `{"Report":[{"CollectionTime":1364529149,"Enabled":{"1":{"1":true,"2":false}},"UpTime":25}]}`
	for _, body := range []string{nvp, oh} {
		reps, err := ParseJSONReport([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 1 || reps[0].Time != "1364529149" {
			t.Fatalf("%s: %+v", body, reps)
		}
		if got := reps[0].Names(); !slices.Equal(got, []string{"Enabled.1.1", "Enabled.1.2", "UpTime"}) {
			t.Errorf("%s: names %v", body, got)
		}
		if v, _ := reps[0].Lookup("Enabled.1.2"); v != "false" {
			t.Errorf("Enabled.1.2 = %q", v)
		}
		if v, _ := reps[0].Lookup("UpTime"); v != "25" {
			t.Errorf("UpTime = %q", v)
		}
	}
	// Retained failed reports come first, each its own element.
	reps, err := ParseJSONReport([]byte(`{"Report":[{"CollectionTime":"2015-11-01T11:12:13Z","A":"x"},{"A":"y"}]}`))
	if err != nil || len(reps) != 2 || reps[0].Time != "2015-11-01T11:12:13Z" || reps[1].Params[0].Value != "y" {
		t.Errorf("%+v %v", reps, err)
	}
	for _, bad := range []string{``, `[]`, `{"Report":{}}`, `{"Report":[1]}`, `{"Report":[{"A":[1]}]}`, `{}`, `{"Report":[]} x`,
		`{"Report":[{"A":` + strings.Repeat(`{"a":`, maxReportDepth+2) + `1` + strings.Repeat(`}`, maxReportDepth+2) + `}]}`} {
		if _, err := ParseJSONReport([]byte(bad)); !errors.Is(err, ErrBadReport) {
			t.Errorf("%.60q: %v, want ErrBadReport", bad, err)
		}
	}
}

func TestParseCSVReport(t *testing.T) {
	perRow := "ReportTimestamp,ParameterName,ParameterValue,ParameterType\r\n" +
		"1364529149,Device.MoCA.Interface.1.Stats.BroadPktSent,25248,unsignedLong\r\n" +
		"1364529149,\"Name, with \"\"quotes\"\"\",\"a\r\nb\",string\r\n" +
		"1364529150,Device.MoCA.Interface.1.Stats.BroadPktSent,25249,unsignedLong\r\n"
	reps, err := ParseCSVReport([]byte(perRow), CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, ReportFormat: "ParameterPerRow", RowTimestamp: "Unix-Epoch"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || len(reps[0].Params) != 2 || reps[0].Params[1].Name != `Name, with "quotes"` || reps[0].Params[1].Value != "a\r\nb" ||
		reps[0].Params[0].Type != "unsignedLong" || reps[1].Time != "1364529150" {
		t.Errorf("%+v", reps)
	}
	// ParameterPerColumn with separators of the profile's choosing; the
	// last row separator may be left out.
	perCol := "ReportTimestamp;BroadPktSent;BytesSent|1364529149;25248;7682161|1464639150;'x;y';''''"
	f := CSVFormat{Field: ";", Row: "|", Escape: "'", ReportFormat: "ParameterPerColumn", RowTimestamp: "Unix-Epoch"}
	reps, err = ParseCSVReport([]byte(perCol), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || !slices.Equal(reps[0].Names(), []string{"BroadPktSent", "BytesSent"}) || reps[1].Params[0].Value != "x;y" ||
		reps[1].Params[1].Value != "'" || reps[1].Time != "1464639150" {
		t.Errorf("%+v", reps)
	}
	for _, c := range []struct {
		body string
		f    CSVFormat
	}{
		{"ReportTimestamp,UpTime\r\n", DefaultCSVFormat},                                                                   // no row
		{"ReportTimestamp,UpTime\r\n1,2,3\r\n", DefaultCSVFormat},                                                          // row longer than the header
		{"ReportTimestamp,UpTime\r\n1,\"2\r\n", DefaultCSVFormat},                                                          // unterminated
		{"ReportTimestamp,UpTime\r\n1,\"2\"x\r\n", DefaultCSVFormat},                                                       // text after an escaped field
		{"ReportTimestamp,UpTime\r\n1,2\"\r\n", DefaultCSVFormat},                                                          // stray escape
		{"ReportTimestamp;UpTime\r\n1;2\r\n", CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, RowTimestamp: "Unix-Epoch"}}, // wrong separator
		{"UpTime,ReportTimestamp\r\n1,2\r\n", CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, RowTimestamp: "Unix-Epoch"}},
		{"ReportTimestamp,UpTime\r\n1,2\r\n", CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, RowTimestamp: "None"}},
		{"ParameterName,ParameterType,ParameterValue\r\na,b,c\r\n", CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, ReportFormat: "ParameterPerRow"}},
		{"ParameterName,ParameterValue,ParameterType\r\na,b,c\r\n", CSVFormat{Field: ",", Row: "\r\n", Escape: `"`, ReportFormat: "ParameterPerColumn"}},
		{"a,b\r\n1,2\r\n", CSVFormat{Field: ",", Row: ",", Escape: `"`}}, // unusable separators
	} {
		if _, err := ParseCSVReport([]byte(c.body), c.f); !errors.Is(err, ErrBadReport) {
			t.Errorf("%q with %+v: %v, want ErrBadReport", c.body, c.f, err)
		}
	}
}

func FuzzParseJSONReport(f *testing.F) {
	f.Add([]byte(`{"Report":[{"CollectionTime":1364529149,"Device":{"MoCA":{"Interface":{"1":{"Stats":{"BroadPktSent":25248}}}}}}]}`))
	f.Add([]byte(`{"Report":[{"CollectionTime":"2015-11-01T11:12:13Z","UpTime":1,"A.1.2":true,"B":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		reps, err := ParseJSONReport(b)
		if err != nil {
			if !errors.Is(err, ErrBadReport) {
				t.Fatalf("error %v is not ErrBadReport", err)
			}
			return
		}
		for _, r := range reps {
			for _, p := range r.Params {
				if p.Name == "CollectionTime" && r.Time == "" {
					t.Fatalf("CollectionTime taken for a parameter: %+v", r)
				}
			}
		}
	})
}

func FuzzParseCSVReport(f *testing.F) {
	f.Add([]byte("ReportTimestamp,ParameterName,ParameterValue,ParameterType\r\n1,A,\"x,\"\"y\",string\r\n"), ",", "\r\n", `"`)
	f.Add([]byte("ReportTimestamp;A;B|1;2;3|4;'5;6';7"), ";", "|", "'")
	f.Fuzz(func(t *testing.T, b []byte, field, row, esc string) {
		reps, err := ParseCSVReport(b, CSVFormat{Field: field, Row: row, Escape: esc})
		if err != nil {
			if !errors.Is(err, ErrBadReport) {
				t.Fatalf("error %v is not ErrBadReport", err)
			}
			return
		}
		if len(reps) == 0 {
			t.Fatal("no report and no error")
		}
	})
}
