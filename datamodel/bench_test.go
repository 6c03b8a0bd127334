package datamodel

import "testing"

var sinkPath Path

func BenchmarkParsePath(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"param", "Device.LocalAgent.Controller.2.EndpointID"},
		{"wildcard", "Device.LocalAgent.Controller.*.MTP.*.MQTT.Topic"},
		{"search", `Device.LocalAgent.Controller.[Enable==true&&Alias=="cpe-1"].EndpointID`},
		{"whitespace", `Device.LocalAgent.Controller.[Enable == true && Alias == "cpe-1"].EndpointID`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := Parse(bc.path)
				if err != nil {
					b.Fatal(err)
				}
				sinkPath = p
			}
		})
	}
}

func BenchmarkBuildPath(b *testing.B) {
	b.ReportAllocs()
	base := Obj("Device", "WiFi", "SSID")
	for b.Loop() {
		p, err := base.Instance(2).Param("SSID")
		if err != nil {
			b.Fatal(err)
		}
		sinkPath = p
	}
}

func BenchmarkEvalExpr(b *testing.B) {
	e, err := ParseExpr(`[Enable==true&&PeriodicNotifInterval>=60&&Alias=="cpe-1"&&PeriodicNotifTime<2030-01-01T00:00:00Z]`)
	if err != nil {
		b.Fatal(err)
	}
	inst := values{
		"Enable":                {"true", TypeBoolean},
		"PeriodicNotifInterval": {"3600", TypeUnsignedInt},
		"Alias":                 {"cpe-1", TypeString},
		"PeriodicNotifTime":     {"2026-11-27T08:25:19Z", TypeDateTime},
	}
	lookup := inst.lookup
	b.ReportAllocs()
	for b.Loop() {
		ok, err := e.Eval(lookup)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	p := MustParse("Device.LocalAgent.Controller.*.MTP.*.MQTT.Topic")
	c := MustParse("Device.LocalAgent.Controller.2.MTP.1.MQTT.Topic")
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Match(c, nil); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkSchemaLookup(b *testing.B) {
	s, _ := loadObuspaSchema(b, "68-gsdm-device-full")
	p := MustParse("Device.LocalAgent.Controller.2.MTP.1.MQTT.Topic")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(p); err != nil {
			b.Fatal(err)
		}
	}
}
