// Package proto holds the USP 1.4 protobuf schemas that gousp is built on.
// The Go code in [github.com/gousp/gousp/proto/uspmsg] and
// [github.com/gousp/gousp/proto/usprecord] is generated from them and
// committed; run `go generate ./proto/...` (protoc from Debian's
// protobuf-compiler, protoc-gen-go pinned as a tool in go.mod) to reproduce it
// byte for byte.
//
// Beside protoc-gen-go's code, protoc-gen-go-vtproto (planetscale/vtprotobuf,
// also pinned as a tool) generates MarshalVT, UnmarshalVT and SizeVT: fast
// paths without reflection that write the same wire bytes. The record
// package uses them.
package proto

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=. --go_opt=module=github.com/gousp/gousp/proto --plugin=protoc-gen-go-vtproto=$(go tool -n protoc-gen-go-vtproto) --go-vtproto_out=. --go-vtproto_opt=module=github.com/gousp/gousp/proto,features=marshal+unmarshal+size usp-msg-1-4.proto usp-record-1-4.proto"
