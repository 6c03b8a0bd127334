package msg

import (
	"errors"

	"github.com/gousp/gousp/datamodel"
)

// DataModel converts the supported objects of every successful result into
// the form package datamodel works with. The enum values are the wire
// numbers in both packages, so the conversion only copies.
func (r GetSupportedDMResp) DataModel() []datamodel.SupportedObject {
	var out []datamodel.SupportedObject
	for _, res := range r.Results {
		if res.Err != nil {
			continue
		}
		for _, o := range res.Objects {
			out = append(out, o.DataModel())
		}
	}
	return out
}

// DataModel converts one supported object for package datamodel.
func (o SupportedObject) DataModel() datamodel.SupportedObject {
	d := datamodel.SupportedObject{
		Path:           o.Path,
		MultiInstance:  o.MultiInstance,
		Access:         datamodel.ObjectAccess(o.Access),
		UniqueKeySets:  o.UniqueKeySets,
		DivergentPaths: o.DivergentPaths,
	}
	for _, p := range o.Params {
		d.Params = append(d.Params, datamodel.SupportedParam{
			Name:        p.Name,
			Access:      datamodel.ParamAccess(p.Access),
			Type:        datamodel.ValueType(p.Type),
			ValueChange: datamodel.ValueChange(p.ValueChange),
		})
	}
	for _, c := range o.Commands {
		d.Commands = append(d.Commands, datamodel.SupportedCommand{
			Name:       c.Name,
			Type:       datamodel.CommandType(c.Type),
			InputArgs:  c.Inputs,
			OutputArgs: c.Outputs,
		})
	}
	for _, e := range o.Events {
		d.Events = append(d.Events, datamodel.SupportedEvent{Name: e.Name, Args: e.Args})
	}
	return d
}

// Schema builds a [datamodel.Schema] from the response, to look up paths
// and check requests before sending them. Failed requested paths are left
// out; if every one failed, their errors are returned.
func (r GetSupportedDMResp) Schema() (*datamodel.Schema, error) {
	objs := r.DataModel()
	if len(objs) == 0 {
		if err := r.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("msg: GetSupportedDMResp describes no objects")
	}
	return datamodel.NewSchema(objs)
}
