package main

import (
	"encoding/json"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

// checkSameAnswers asks patronfed and the baseline at addr for the first n
// patrons of the ghz data file and fails unless every answer is the same
// message: the baseline that does GetPatron's own read (-baseline-read
// view) claims to answer as GetPatron does, so that only the policy check,
// the audit row and the interceptors separate them.
func (h *harness) checkSameAnswers(addr, data, token string, n int) error {
	b, err := os.ReadFile(data)
	if err != nil {
		return err
	}
	var reqs []struct {
		PatronID string `json:"patron_id"`
	}
	if err := json.Unmarshal(b, &reqs); err != nil {
		return err
	}
	serve, err := grpc.NewClient(serveGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer serve.Close()
	base, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer base.Close()
	sc, bc := pb.NewPatronServiceClient(serve), pb.NewPatronServiceClient(base)
	authed := metadata.AppendToOutgoingContext(h.ctx, "authorization", "Bearer "+token)
	differ := 0
	for _, r := range reqs[:min(n, len(reqs))] {
		req := &pb.GetPatronRequest{PatronId: r.PatronID}
		want, err := sc.GetPatron(authed, req)
		if err != nil {
			return fmt.Errorf("patronfed GetPatron: %w", err)
		}
		got, err := bc.GetPatron(h.ctx, req)
		if err != nil {
			return fmt.Errorf("baseline GetPatron: %w", err)
		}
		if !proto.Equal(want, got) {
			differ++
		}
	}
	if differ > 0 {
		return fmt.Errorf("the view baseline answered %d of %d patrons differently from GetPatron", differ, min(n, len(reqs)))
	}
	h.logf("the view baseline answered the first %d patrons exactly as GetPatron", min(n, len(reqs)))
	return nil
}
