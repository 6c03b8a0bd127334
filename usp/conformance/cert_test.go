package conformance

import (
	"context"
	"strings"
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp/usptest"
)

// TestAddCertificateCase runs 9.2 against usptest: metrics 1, 3 and 4 are
// met, metric 2 is left to an operator, and the certificate is gone.
func TestAddCertificateCase(t *testing.T) {
	t.Parallel()
	eq, agent := memoryBench(t)
	res := runOne(t, eq, "9.2", nil)
	if res.Verdict != NeedsOperator || !strings.Contains(res.Reason, "metric 2") {
		t.Fatalf("verdict %s (%s), want needs-operator for metric 2\n%s", res.Verdict, res.Reason, TextEvidence(res))
	}
	met := map[int]bool{}
	for _, c := range res.Criteria {
		if !c.OK {
			t.Errorf("criterion %d failed: %s", c.Metric, c.Detail)
		}
		met[c.Metric] = true
	}
	for _, m := range []int{0, 1, 3, 4} {
		if !met[m] {
			t.Errorf("metric %d not checked: %+v", m, res.Criteria)
		}
	}
	if len(res.Cleanup) > 0 {
		t.Errorf("cleanup: %v", res.Cleanup)
	}
	if ins, _ := agent.Model().Instances("Device.LocalAgent.Certificate."); len(ins) != 0 {
		t.Errorf("certificates left: %v", ins)
	}
}

// TestAddCertificateCaseKeepsOthers: a certificate already named
// "addedCert" is left alone; the kit adds its own under another Alias.
func TestAddCertificateCaseKeepsOthers(t *testing.T) {
	t.Parallel()
	eq, agent := memoryBench(t)
	pemText, _, err := newCertificate("someone else")
	if err != nil {
		t.Fatal(err)
	}
	ex := eq.Send(t.Context(), msg.Operate{Command: "Device.LocalAgent.AddCertificate()", SendResp: true,
		Args: map[string]string{"Alias": "addedCert", "Certificate": pemText}})
	if r, err := msg.ParseOperateResp(ex.Response); err != nil || r.Err() != nil {
		t.Fatalf("seeding: %v %v", err, r)
	}
	res := runOne(t, eq, "9.2", nil)
	if res.Verdict != NeedsOperator || len(res.Failed()) > 0 {
		t.Fatalf("verdict %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
	}
	if al, _ := agent.Model().Get("Device.LocalAgent.Certificate.1.Alias"); al != "addedCert" {
		t.Errorf("the agent's own certificate: Alias %q", al)
	}
	if ins, _ := agent.Model().Instances("Device.LocalAgent.Certificate."); len(ins) != 1 {
		t.Errorf("certificates: %v", ins)
	}
}

// TestBrokenAddCertificateFails: an agent whose AddCertificate() answers
// but adds nothing fails metric 3, and one whose Delete() fails fails
// metric 4, each with the records as evidence.
func TestBrokenAddCertificateFails(t *testing.T) {
	t.Parallel()
	t.Run("AddCertificate adds nothing", func(t *testing.T) {
		m := usptest.DefaultModel()
		if err := m.HandleCommand("Device.LocalAgent.AddCertificate()", func(context.Context, string, map[string]string) (map[string]string, error) {
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		eq, _ := memoryBench(t, usptest.WithModel(m))
		res := runOne(t, eq, "9.2", nil)
		expectFail(t, res, 3, `no Device.LocalAgent.Certificate instance has Alias "addedCert"`, "received GET_RESP")
	})
	t.Run("Delete fails", func(t *testing.T) {
		m := usptest.DefaultModel()
		if err := m.HandleCommand("Device.LocalAgent.Certificate.{i}.Delete()", func(context.Context, string, map[string]string) (map[string]string, error) {
			return nil, msg.Errorf(msg.CodeCommandFailure, "deletion refused")
		}); err != nil {
			t.Fatal(err)
		}
		eq, agent := memoryBench(t, usptest.WithModel(m))
		res := runOne(t, eq, "9.2", nil)
		expectFail(t, res, 4, "deletion refused", "received OPERATE_RESP")
		// The cleanup's own Delete() fails the same way, and says so.
		if len(res.Cleanup) == 0 {
			t.Errorf("cleanup reported nothing, with the certificate still there")
		}
		if ins, _ := agent.Model().Instances("Device.LocalAgent.Certificate."); len(ins) != 1 {
			t.Errorf("certificates: %v", ins)
		}
	})
}
