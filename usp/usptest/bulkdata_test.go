package usptest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/usprecord"
)

// TestBulkReportName follows TR-369's bulk data annex (R-BULK.9, R-BULK.10).
func TestBulkReportName(t *testing.T) {
	for _, c := range []struct{ name, ref, path, want string }{
		{"", "Device.MoCA.Interface.*.Stats.BroadPktSent", "Device.MoCA.Interface.1.Stats.BroadPktSent", "Device.MoCA.Interface.1.Stats.BroadPktSent"},
		{"BroadPktSent", "Device.MoCA.Interface.1.Stats.BroadPktSent", "Device.MoCA.Interface.1.Stats.BroadPktSent", "BroadPktSent"},
		{"WiFi_AP_Assoc_BSent", "Device.WiFi.AccessPoint.*.AssociatedDevice.*.Stats.BytesSent", "Device.WiFi.AccessPoint.3.AssociatedDevice.11.Stats.BytesSent", "WiFi_AP_Assoc_BSent.3.11"},
		{"WiFi_AP1_Assoc10", "Device.WiFi.AccessPoint.1.AssociatedDevice.10.Stats.", "Device.WiFi.AccessPoint.1.AssociatedDevice.10.Stats.BytesSent", "WiFi_AP1_Assoc10.BytesSent"},
		{"WiFi_AP_Assoc", "Device.WiFi.AccessPoint.*.AssociatedDevice.*.Stats.", "Device.WiFi.AccessPoint.1.AssociatedDevice.10.Stats.RetryCount", "WiFi_AP_Assoc.1.10.RetryCount"},
		{"Controller", "Device.LocalAgent.Controller.", "Device.LocalAgent.Controller.2.MTP.1.Protocol", "Controller.2.MTP.1.Protocol"},
	} {
		if got := reportName(bulkRef{c.name, c.ref}, c.path); got != c.want {
			t.Errorf("%s / %s / %s: %q, want %q", c.name, c.ref, c.path, got, c.want)
		}
	}
}

func TestBulkEncodings(t *testing.T) {
	at := time.Unix(1364529149, 0)
	reps := []bulkReport{{at: at, items: []bulkItem{{"A.1.X", "25", datamodel.TypeUnsignedInt}, {"B", "x,\"y\"", datamodel.TypeString}, {"C", "true", datamodel.TypeBoolean}}}}
	var got map[string]any
	if err := json.Unmarshal(encodeJSON(&bulkProfile{jsonFormat: "ObjectHierarchy"}, reps), &got); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"Report":[{"A":{"1":{"X":25}},"B":"x,\"y\"","C":true,"CollectionTime":1364529149}]}`; string(b) != want {
		t.Errorf("ObjectHierarchy %s, want %s", b, want)
	}
	if s := string(encodeJSON(&bulkProfile{jsonFormat: "NameValuePair", jsonStamp: "None"}, reps)); s != `{"Report":[{"A.1.X":25,"B":"x,\"y\"","C":true}]}` {
		t.Errorf("NameValuePair %s", s)
	}
	a := &Agent{}
	row := a.encodeCSV(&bulkProfile{csvFormat: "ParameterPerRow", csvStamp: "Unix-Epoch"}, reps)
	if want := "ReportTimestamp,ParameterName,ParameterValue,ParameterType\r\n1364529149,A.1.X,25,unsignedInt\r\n1364529149,B,\"x,\"\"y\"\"\",string\r\n1364529149,C,true,boolean\r\n"; string(row) != want {
		t.Errorf("ParameterPerRow %q, want %q", row, want)
	}
	// Retained reports follow the header without one of their own.
	col := a.encodeCSV(&bulkProfile{csvFormat: "ParameterPerColumn", csvStamp: "None", csvField: ";", csvRow: "\n", csvEscape: "'"}, append(reps, reps[0]))
	if want := "A.1.X;B;C\n25;x,\"y\";true\n25;x,\"y\";true\n"; string(col) != want {
		t.Errorf("ParameterPerColumn %q, want %q", col, want)
	}
}

func TestBulkRetry(t *testing.T) {
	for n, want := range map[int][2]time.Duration{1: {5 * time.Second, 10 * time.Second}, 2: {10 * time.Second, 20 * time.Second},
		3: {20 * time.Second, 40 * time.Second}, 10: {2560 * time.Second, 5120 * time.Second}} {
		if lo, hi := retryRange(5, 2000, n, time.Second); lo != want[0] || hi != want[1] {
			t.Errorf("retry %d: %v-%v, want %v-%v", n, lo, hi, want[0], want[1])
		}
	}
	r := func(i int) bulkReport { return bulkReport{at: time.Unix(int64(i), 0)} }
	if got := retain(&bulkProfile{retained: 0}, nil, r(1)); got != nil {
		t.Errorf("0 retained: %v", got)
	}
	if got := retain(&bulkProfile{retained: 2}, []bulkReport{r(1), r(2)}, r(3)); len(got) != 2 || got[0].at.Unix() != 2 {
		t.Errorf("2 retained: %v", got)
	}
	if got := retain(&bulkProfile{retained: -1}, []bulkReport{r(1), r(2)}, r(3)); len(got) != 3 {
		t.Errorf("all retained: %v", got)
	}
}

// TestAddRelativeParams: an Add may set parameters of the new instance's
// single-instance sub-objects (Device.BulkData.Profile.{i}.HTTP.URL).
func TestAddRelativeParams(t *testing.T) {
	m := DefaultModel()
	p, err := m.AddInstance("Device.BulkData.Profile.", map[string]string{"HTTP.URL": "http://127.0.0.1/x", "Protocol": "HTTP"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Get(p + "HTTP.URL"); err != nil || v != "http://127.0.0.1/x" {
		t.Errorf("HTTP.URL %q %v", v, err)
	}
	if _, err := m.AddInstance("Device.BulkData.Profile.", map[string]string{"HTTP.Nope": "x"}); err == nil {
		t.Error("an unknown relative parameter was accepted")
	}
	if _, err := m.AddInstance("Device.BulkData.Profile.", map[string]string{"Parameter.Name": "x"}); err == nil {
		t.Error("a parameter of a sub-table was accepted")
	}
}

// TestBulkForceCollection: ForceCollection() makes an enabled profile
// report at once, here by a Push! event to the subscribed controller.
func TestBulkForceCollection(t *testing.T) {
	a, c := newTestAgent(t)
	m := a.Model()
	prof, err := m.AddInstance("Device.BulkData.Profile.", map[string]string{"Protocol": "USPEventNotif",
		"ReportingInterval": "86400", "JSONEncoding.ReportFormat": "NameValuePair", "Enable": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddInstance(prof+"Parameter.", map[string]string{"Name": "SN", "Reference": "Device.DeviceInfo.SerialNumber"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("Device.BulkData.Enable", "true"); err != nil {
		t.Fatal(err)
	}
	if r := c.do(msg.Add{Objects: []msg.AddObject{{Path: "Device.LocalAgent.Subscription.", Params: msg.Params(map[string]string{
		"Enable": "true", "ID": "push", "NotifType": "Event", "ReferenceList": prof + "Push!"})}}}); r.GetBody().GetResponse().GetAddResp() == nil {
		t.Fatalf("Add: %v", r)
	}
	if r := c.do(msg.Operate{Command: prof + "ForceCollection()", SendResp: true}); r.GetBody().GetResponse().GetOperateResp() == nil {
		t.Fatalf("Operate: %v", r)
	}
	rec := c.take(5*time.Second, func(r *usprecord.Record) bool {
		return notifyOf("Event")(r) && payloadMsg(r).GetBody().GetRequest().GetNotify().GetEvent().GetEventName() == "Push!"
	})
	if rec == nil {
		t.Fatal("no Push! event")
	}
	ev := payloadMsg(rec).GetBody().GetRequest().GetNotify().GetEvent()
	if ev.GetEventName() != "Push!" || ev.GetObjPath() != prof {
		t.Fatalf("event %v", ev)
	}
	var got struct{ Report []map[string]any }
	if err := json.Unmarshal([]byte(ev.GetParams()["Data"]), &got); err != nil || len(got.Report) != 1 || got.Report[0]["SN"] != "000000000001" {
		t.Errorf("Data %q: %v", ev.GetParams()["Data"], err)
	}
	if v, _ := m.Get("Device.BulkData.Status"); v != "Enabled" {
		t.Errorf("Status %q", v)
	}
}
