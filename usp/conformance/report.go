package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// TextEvidence renders a result's criteria, cleanup failures and record
// trace for people.
func TextEvidence(r *Result) string {
	var b strings.Builder
	for _, c := range r.Criteria {
		mark := "met"
		if !c.OK {
			mark = "NOT MET"
		}
		fmt.Fprintf(&b, "  metric %d %s: %s", c.Metric, mark, c.Text)
		if c.Detail != "" {
			fmt.Fprintf(&b, " (%s)", c.Detail)
		}
		b.WriteByte('\n')
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, cl := range r.Cleanup {
		fmt.Fprintf(&b, "  cleanup failed: %s\n", cl)
	}
	if len(r.Trace) > 0 {
		b.WriteString("  records:\n")
		for _, e := range r.Trace {
			fmt.Fprintf(&b, "    %s %s\n", e.Time.Format("15:04:05.000"), e.Summary())
			if e.Body != "" && (r.Verdict == Fail || r.Verdict == Error) {
				for _, line := range strings.Split(e.Body, "\n") {
					b.WriteString("      " + line + "\n")
				}
			}
		}
	}
	return b.String()
}

// WriteText writes the report as a table in TP-469 numbering, followed by
// the evidence of each case that did not pass.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TP-469 conformance of %s (test equipment %s over %s)\n\n", r.Agent, r.Controller, r.Transport)
	fmt.Fprintf(tw, "Case\tTitle\tVerdict\tReason\n")
	section := -1
	for _, res := range r.Results {
		if res.Section != section {
			section = res.Section
			fmt.Fprintf(tw, "%d\t%s\t\t\n", section, SectionTitle(section))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.ID, res.Title, res.Verdict, firstLine(res.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d cases: %d pass, %d fail, %d error, %d skipped, %d need an operator (%v)\n",
		len(r.Results), r.Count(Pass), r.Count(Fail), r.Count(Error), r.Count(Skip), r.Count(NeedsOperator),
		r.Duration.Round(time.Millisecond))
	for _, res := range r.Results {
		if res.Verdict == Fail || res.Verdict == Error || len(res.Cleanup) > 0 {
			fmt.Fprintf(w, "\n%s %s: %s\n%s", res.ID, res.Title, res.Verdict, TextEvidence(res))
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// WriteJSON writes the whole report, traces included, as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML, one test suite per TP-469
// section, for CI systems.
func (r *Report) WriteJUnit(w io.Writer) error {
	all := junitSuites{Name: "TP-469 " + r.Agent}
	bySection := map[int]*junitSuite{}
	var order []int
	for _, res := range r.Results {
		s := bySection[res.Section]
		if s == nil {
			s = &junitSuite{Name: fmt.Sprintf("TP-469 %d %s", res.Section, SectionTitle(res.Section))}
			bySection[res.Section] = s
			order = append(order, res.Section)
		}
		jc := junitCase{Name: res.ID + " " + res.Title, Classname: fmt.Sprintf("tp469.section%d", res.Section),
			Time: res.Duration.Seconds(), SystemOut: TextEvidence(res)}
		switch res.Verdict {
		case Fail:
			jc.Failure = &junitMessage{Message: firstLine(res.Reason), Body: res.Reason}
			s.Failures++
		case Error:
			jc.Error = &junitMessage{Message: firstLine(res.Reason), Body: res.Reason}
			s.Errors++
		case Skip, NeedsOperator:
			jc.Skipped = &junitMessage{Message: string(res.Verdict) + ": " + firstLine(res.Reason)}
			s.Skipped++
		}
		s.Tests++
		s.Time += res.Duration.Seconds()
		s.Cases = append(s.Cases, jc)
	}
	slices.Sort(order)
	for _, n := range order {
		s := bySection[n]
		all.Suites = append(all.Suites, *s)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	e := xml.NewEncoder(w)
	e.Indent("", "  ")
	if err := e.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

type htmlSection struct {
	Number                                 int
	Title                                  string
	Pass, Fail, Error, Skip, NeedsOperator int
	Results                                []*Result
}

// WriteHTML writes one self-contained page: a summary per section, then
// each case with its verdict, criteria and decoded record trace. It loads
// nothing from the network.
func (r *Report) WriteHTML(w io.Writer) error {
	var sections []*htmlSection
	for _, res := range r.Results {
		if len(sections) == 0 || sections[len(sections)-1].Number != res.Section {
			sections = append(sections, &htmlSection{Number: res.Section, Title: SectionTitle(res.Section)})
		}
		s := sections[len(sections)-1]
		s.Results = append(s.Results, res)
		switch res.Verdict {
		case Pass:
			s.Pass++
		case Fail:
			s.Fail++
		case Error:
			s.Error++
		case Skip:
			s.Skip++
		case NeedsOperator:
			s.NeedsOperator++
		}
	}
	return htmlPage.Execute(w, map[string]any{"R": r, "Sections": sections})
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"time": func(t time.Time) string { return t.Format("15:04:05.000") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>TP-469 conformance of {{.R.Agent}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.2em .7em;text-align:left;border-bottom:1px solid #eee}
.pass{color:#176b1d}.fail,.error{color:#b3141b;font-weight:bold}.skip,.needs-operator{color:#7a6a00}
details{margin:.3em 0}summary{cursor:pointer}pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:12px}
.met{color:#176b1d}.notmet{color:#b3141b}.dir{font-family:monospace}
</style></head><body>
<h1>TP-469 conformance of {{.R.Agent}}</h1>
<p>Test equipment {{.R.Controller}} over {{.R.Transport}}; started {{.R.Started.UTC.Format "2006-01-02 15:04:05 UTC"}}, took {{ms .R.Duration}}.</p>
<table><tr><th>Section</th><th>Pass</th><th>Fail</th><th>Error</th><th>Skipped</th><th>Needs operator</th></tr>
{{range .Sections}}<tr><td><a href="#s{{.Number}}">{{.Number}} {{.Title}}</a></td><td class="pass">{{.Pass}}</td><td class="fail">{{.Fail}}</td><td class="error">{{.Error}}</td><td>{{.Skip}}</td><td>{{.NeedsOperator}}</td></tr>
{{end}}</table>
{{range .Sections}}<h2 id="s{{.Number}}">{{.Number}} {{.Title}}</h2>
{{range .Results}}<details id="c{{.ID}}"{{if or (eq .Verdict "fail") (eq .Verdict "error")}} open{{end}}>
<summary><b>{{.ID}}</b> {{.Title}} — <span class="{{.Verdict}}">{{.Verdict}}</span>{{if .Reason}}: {{.Reason}}{{end}}</summary>
<p>{{.Tag}} · {{ms .Duration}}</p>
{{if .Criteria}}<ul>{{range .Criteria}}<li class="{{if .OK}}met{{else}}notmet{{end}}">metric {{.Metric}} {{if .OK}}met{{else}}NOT met{{end}}: {{.Text}}{{if .Detail}} — {{.Detail}}{{end}}</li>{{end}}</ul>{{end}}
{{range .Notes}}<p>Note: {{.}}</p>{{end}}
{{range .Cleanup}}<p class="fail">Cleanup failed: {{.}}</p>{{end}}
{{range .Trace}}<details><summary><span class="dir">{{time .Time}} {{.Summary}}</span></summary>{{if .Body}}<pre>{{.Body}}</pre>{{end}}</details>
{{end}}</details>
{{end}}{{end}}
</body></html>
`))
