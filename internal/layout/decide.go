package layout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/shard"
)

// ScoredBlock is the scored users of a block of shards [from, to) when one
// decide activity handles several shards (more shards than the run's
// ShardBlocks): the shards' users in shard order, in Scored's layout. A
// block of one shard uses Scored.
func ScoredBlock(run string, b shard.Block) string {
	return fmt.Sprintf("%sdecide/scored/block=%04d-%04d.bin", Run(run), b.From, b.To)
}

// ContactsPrefix holds the contact lists of published campaigns (the
// users each contacted: treated, not control), named by the campaign's
// start date and name, so a later run finds the users promoted within N
// days by listing the prefix, without reading older campaigns' plans.
const ContactsPrefix = "state/contacts/"

// ContactsName is how a campaign's contact list is named under
// ContactsPrefix: <YYYY-MM-DD>_<campaign>.
func ContactsName(start time.Time, campaign string) string {
	return start.UTC().Format("2006-01-02") + "_" + campaign
}

// ContactsLegacy is a campaign's contact list as one object (one user id
// a line), as runs wrote it before the partitioned layout (ContactsDir);
// later runs still read it.
func ContactsLegacy(start time.Time, campaign string) string {
	return ContactsPrefix + ContactsName(start, campaign) + ".txt"
}

// ContactsPartsPrefix holds the partitions of partitioned contact lists
// (ContactsDir): beside ContactsPrefix, not under it, so that listing the
// lists does not list every partition.
const ContactsPartsPrefix = "state/contacts-parts/"

// ContactsList names a campaign's contact list partitioned by
// shard.Of(id, n) (ContactsDir). It is written last, after every
// partition, so a list interrupted while written is not found.
func ContactsList(start time.Time, campaign string, n int) string {
	return fmt.Sprintf("%s%s.of=%04d", ContactsPrefix, ContactsName(start, campaign), n)
}

// ContactsDir holds the n partitions of a campaign's contact list named
// name (ContactsName): one per shard of n, so a shard of a later run reads
// only the partitions its users can be in.
func ContactsDir(name string, n int) string {
	return fmt.Sprintf("%s%s/of=%04d/", ContactsPartsPrefix, name, n)
}

// ContactsPart is partition i of a contact list's partitions in dir.
func ContactsPart(dir string, i int) string { return dir + shard.Key(i) + ".txt" }

// ParseContacts reads a key under ContactsPrefix: the list's name
// (ContactsName), and for a partitioned list (ContactsList) the directory
// of its partitions and their count; a legacy list (ContactsLegacy) has
// dir "" and n 0. Anything else gives ok false.
func ParseContacts(key string) (name, dir string, n int, ok bool) {
	rel, found := strings.CutPrefix(key, ContactsPrefix)
	if !found || strings.Contains(rel, "/") {
		return "", "", 0, false
	}
	if name, found := strings.CutSuffix(rel, ".txt"); found {
		return name, "", 0, true
	}
	i := strings.LastIndex(rel, ".of=")
	if i <= 0 {
		return "", "", 0, false
	}
	n, err := strconv.Atoi(rel[i+len(".of="):])
	if err != nil || n <= 0 {
		return "", "", 0, false
	}
	return rel[:i], ContactsDir(rel[:i], n), n, true
}
