//! Repeat contacts: contact visits per instance, repeats, what precedes them and what drives them.

use rayon::prelude::*;

use super::facts::Basis;
use super::{ContactFigures, Contacts, Driver, share};

/// The contact figures of the instances `members`.
pub(super) fn contacts(basis: &Basis, members: &[usize]) -> Contacts {
    let design = basis.design;
    let (names, n) = (&design.names, design.len());
    let facts = basis.facts;
    let total_contacts: usize = members.iter().map(|&k| facts.contacts(k)).sum();
    let with_contact = members.iter().filter(|&&k| facts.contacts(k) > 0).count();
    let with_repeat = members
        .iter()
        .filter(|&&k| facts.repeated_contact(k))
        .count();
    let by_touchpoint = design
        .contact_ids
        .par_iter()
        .enumerate()
        .map(|(ci, &c)| {
            // What came just before each visit: by touchpoint, the last slot for a start.
            let mut preceded = vec![0usize; n + 1];
            let (mut visits, mut instances, mut repeated) = (0, 0, 0);
            // For instances with the contact: what came before its first visit; for the
            // others: everything they visited. And their case attribute values.
            let mut with = Counted::new(n);
            let mut without = Counted::new(n);
            let values = basis.values.names.len();
            let mut with_values = Counted::new(values);
            let mut without_values = Counted::new(values);
            for &index in members {
                let instance = &basis.found[index];
                let mask = basis.values.row(index);
                if !facts.visited(index, c) {
                    without.add_row(facts.visited_row(index));
                    without_values.add_row(mask);
                    continue;
                }
                with.add_row(facts.before_contact(index, ci));
                with_values.add_row(mask);
                let mut here = 0;
                for (k, v) in instance.visits.iter().enumerate() {
                    if v.touchpoint == c {
                        here += 1;
                        let before = if k == 0 {
                            n
                        } else {
                            instance.visits[k - 1].touchpoint
                        };
                        preceded[before] += 1;
                    }
                }
                visits += here;
                instances += 1;
                if here > 1 {
                    repeated += 1;
                }
            }
            let mut preceded_by: Vec<(String, usize)> = preceded
                .iter()
                .enumerate()
                .filter(|&(_, &count)| count > 0)
                .map(|(t, &count)| {
                    let name = names.get(t).map_or("(start)", String::as_str);
                    (name.to_string(), count)
                })
                .collect();
            preceded_by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            preceded_by.truncate(5);
            ContactFigures {
                touchpoint: names[c].clone(),
                visits,
                instances,
                repeated_instances: repeated,
                preceded_by,
                drivers: drivers(names, &with, &without, &[c]),
                attribute_drivers: drivers(&basis.values.names, &with_values, &without_values, &[]),
            }
        })
        .collect();
    Contacts {
        touchpoints: design
            .contact_ids
            .iter()
            .map(|&t| names[t].clone())
            .collect(),
        per_instance: share(total_contacts, members.len()),
        instances_with_contact: with_contact,
        instances_with_repeat: with_repeat,
        repeat_rate: share(with_repeat, members.len()),
        by_touchpoint,
    }
}

/// A group of instances and, per thing that may count for an instance (a touchpoint, an
/// attribute value), how many of them it counts for.
pub(super) struct Counted {
    instances: usize,
    counts: Vec<usize>,
}

impl Counted {
    pub fn new(things: usize) -> Counted {
        Counted {
            instances: 0,
            counts: vec![0; things],
        }
    }

    pub fn instances(&self) -> usize {
        self.instances
    }

    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// An instance, with the things that count for it as a row of bits
    /// ([`super::facts::has`]).
    pub fn add_row(&mut self, row: &[u64]) {
        self.instances += 1;
        for t in super::facts::ones(row) {
            self.counts[t] += 1;
        }
    }

    /// Two groups' counts as one.
    pub fn merge(mut self, other: Counted) -> Counted {
        self.instances += other.instances;
        for (count, more) in self.counts.iter_mut().zip(other.counts) {
            *count += more;
        }
        self
    }
}

/// Things (touchpoints, attribute values) over-occurring in `with` against `without`.
pub(super) fn drivers(
    names: &[String],
    with: &Counted,
    without: &Counted,
    exclude: &[usize],
) -> Vec<Driver> {
    if with.instances == 0 || without.instances == 0 {
        return Vec::new();
    }
    let mut found: Vec<Driver> = (0..names.len())
        .filter(|t| !exclude.contains(t))
        .filter_map(|t| {
            let a = with.counts[t];
            // Below 5% of the instances with the outcome, a lift says little.
            if a * 20 < with.instances {
                return None;
            }
            let b = without.counts[t];
            let share_with = share(a, with.instances);
            let share_without = share(b, without.instances);
            let lift = if share_without == 0.0 {
                f64::INFINITY
            } else {
                share_with / share_without
            };
            // Only clear differences: at least 1.2 times as often, and 5 points more.
            (lift >= 1.2 && share_with - share_without >= 0.05).then(|| Driver {
                touchpoint: names[t].clone(),
                share_with,
                share_without,
                lift,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(a.touchpoint.cmp(&b.touchpoint))
    });
    found.truncate(5);
    found
}
