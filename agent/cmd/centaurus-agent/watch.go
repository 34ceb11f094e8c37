package main

import (
	"context"
	"encoding/json"
	"log"
	"net/url"
	"time"

	"github.com/centaurus/centaurus/agent/internal/kube"
	"github.com/centaurus/centaurus/agent/internal/program"
)

const programs = "/apis/network.centaurus.io/v1alpha1/nodeprograms"

// watch keeps a.current at the node's NodeProgram: list, then watch from the list's
// resourceVersion; after any error or the server's timeout, list again (bounded backoff).
func (a *agent) watch(ctx context.Context) {
	path := programs + "?fieldSelector=" + url.QueryEscape("metadata.name="+a.o.node)
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		var list struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
			Items []program.NodeProgram `json:"items"`
		}
		err := a.client.Do(ctx, "GET", path, nil, "", &list)
		if err == nil {
			backoff = 200 * time.Millisecond
			if len(list.Items) > 0 {
				a.setProgram(&list.Items[0])
			} else {
				a.setProgram(nil)
			}
			err = a.client.Watch(ctx, path, list.Metadata.ResourceVersion, func(ev kube.Event) error {
				switch ev.Type {
				case "ADDED", "MODIFIED":
					var np program.NodeProgram
					if err := json.Unmarshal(ev.Object, &np); err != nil {
						return err
					}
					a.setProgram(&np)
				case "DELETED":
					a.setProgram(nil)
				}
				return nil
			})
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Printf("watch NodeProgram %s: %v (retrying in %s)", a.o.node, err, backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}
