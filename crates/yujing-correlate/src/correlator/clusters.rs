//! Clusters: joining a clue to a cluster, merging two (union-find), and reading clusters back by clue or id.

use super::*;

impl Correlator {
    /// Put `node` into the cluster rooted at `root`; returns the new root.
    pub(super) fn attach(&mut self, root: u32, node: u32, at: i64) -> u32 {
        let mut cluster = self
            .clusters
            .remove(&root)
            .unwrap_or_else(|| Cluster::opened_by(ClusterId::of_clue(&self.ids[node as usize]), node));
        self.sets.union(root, node);
        let new_root = self.sets.find_mut(node);
        let pos = cluster.members.partition_point(|m| *m <= (at, node));
        cluster.members.insert(pos, (at, node));
        self.clusters.insert(new_root, cluster);
        new_root
    }

    /// Merge the clusters rooted at `a` and `b`; the older keeps its id. Returns (kept id, absorbed id, root).
    pub(super) fn merge(&mut self, a: u32, b: u32) -> (String, String, u32) {
        let ca = self.clusters.remove(&a);
        let cb = self.clusters.remove(&b);
        let (Some(ca), Some(cb)) = (ca, cb) else {
            unreachable!("both roots name live clusters")
        };
        let (mut kept, absorbed) = if ca.first <= cb.first { (ca, cb) } else { (cb, ca) };
        self.sets.union(a, b);
        let root = self.sets.find_mut(a);
        kept.members.extend(absorbed.members.iter().copied());
        kept.members.sort_unstable();
        if !absorbed.raised.is_empty() {
            let mut raised = kept.raised.to_vec();
            raised.extend(absorbed.raised.iter().copied());
            raised.sort_unstable();
            kept.raised = raised.into_boxed_slice();
        }
        kept.resolved_at = kept.resolved_at.max(absorbed.resolved_at);
        let ids = (kept.id.to_text(), absorbed.id.to_text());
        self.clusters.insert(root, kept);
        (ids.0, ids.1, root)
    }

    /// Record that the work order of `cluster_id` (or of the cluster it was merged into) was resolved at `at`
    /// (event time). Rules with `after_resolution` then count only clues after it. Returns whether the cluster
    /// is known.
    pub fn resolved(&mut self, cluster_id: &str, at: DateTime<Utc>) -> bool {
        let Some(&node) = ClusterId::parse(cluster_id).and_then(|id| self.opened_by.get(&id)) else {
            return false;
        };
        let root = self.sets.find_mut(node);
        match self.clusters.get_mut(&root) {
            Some(cluster) => {
                cluster.resolved_at = cluster.resolved_at.max(at.timestamp());
                true
            }
            None => false,
        }
    }

    /// The cluster of a clue id, when observed.
    pub fn cluster_of(&mut self, clue_id: &str) -> Option<String> {
        let node = self.clue_index(clue_id)?;
        let root = self.sets.find_mut(node);
        self.clusters.get(&root).map(|c| c.id.to_text())
    }

    /// The clue ids of cluster `cluster_id` (or of the cluster it was merged into), in the order observed;
    /// empty when the cluster is unknown.
    pub fn members(&mut self, cluster_id: &str) -> Vec<String> {
        let Some(&opened) = ClusterId::parse(cluster_id).and_then(|id| self.opened_by.get(&id)) else {
            return Vec::new();
        };
        let root = self.sets.find_mut(opened);
        let Some(cluster) = self.clusters.get(&root) else {
            return Vec::new();
        };
        let mut nodes: Vec<u32> = cluster.members.iter().map(|&(_, node)| node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
            .into_iter()
            .map(|node| self.ids[node as usize].to_owned())
            .collect()
    }

    /// Every observed clue with its current cluster, in the order observed.
    pub fn assignments(&mut self) -> Vec<Assignment> {
        (0..self.clue_count() as u32)
            .map(|node| {
                let root = self.sets.find_mut(node);
                let p = self.core(node);
                Assignment {
                    feed: p.feed,
                    source_id: p.source_id(&self.ids[node as usize]).to_owned(),
                    cluster_id: self
                        .clusters
                        .get(&root)
                        .map(|c| c.id.to_text())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{report, settings};
    use super::*;

    #[test]
    fn reports_of_one_dispute_share_a_cluster_and_another_opens_its_own() {
        let mut correlator = Correlator::new(settings());
        let clues = [
            report(0, "a", 0),
            report(1, "a", 1),
            report(2, "b", 1),
            report(3, "a", 2),
        ];
        for clue in &clues {
            correlator.observe(clue);
        }
        let ids: Vec<String> = clues
            .iter()
            .map(|c| correlator.cluster_of(&c.clue_id).expect("observed"))
            .collect();
        let a = ids[0].clone();
        assert_eq!((&ids[1], &ids[3]), (&a, &a));
        assert_ne!(ids[2], a);
        let mut members = correlator.members(&a);
        members.sort();
        let mut expected = vec![
            clues[0].clue_id.clone(),
            clues[1].clue_id.clone(),
            clues[3].clue_id.clone(),
        ];
        expected.sort();
        assert_eq!(members, expected);
        assert_eq!(correlator.assignments().len(), 4);
        assert_eq!(
            a,
            cluster_id_for(&clues[0].clue_id),
            "a cluster is named by the clue that opened it"
        );
    }
}
