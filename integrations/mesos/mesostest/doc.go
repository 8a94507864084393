// Package mesostest is a stand-in Mesos master and agents, in-process on 127.0.0.1, speaking
// the published Mesos v1 scheduler and executor HTTP APIs with mesos-go's types and codecs, so
// that the Mesos framework and executor adapter can be tested without a Mesos cluster.
//
// The full list of reproduced and omitted behaviours is kept in this comment as the package
// grows; see New, AddAgent, RemoveAgent and KillTaskProcess for the test controls.
package mesostest
