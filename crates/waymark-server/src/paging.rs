//! Every API list is paged the same way: `?limit=N` (1–500, 100 unless asked) and `?after=X`,
//! where `X` is the `next` of the page before; the answer holds the page and its `next` (`null`
//! on the last page). Lists the database pages itself (inboxes, worker tasks) parse their own
//! cursors; the others are cut here, in their order, after the item whose key `after` names.

use serde::Deserialize;

use crate::error::ApiError;

/// The most items one page holds.
pub const PAGE_MAX: usize = 500;

/// What a page of a list asks.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1–500; default 100).
    pub limit: Option<usize>,
    /// Where the page starts: the `next` of the page before.
    pub after: Option<String>,
}

/// A page's size: 100 unless asked, at most [`PAGE_MAX`].
pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    let limit = asked.unwrap_or(100);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit {limit}: a page holds 1 to {PAGE_MAX} items"),
            "limit",
        ));
    }
    Ok(limit)
}

/// Why a cursor is refused.
pub fn bad_cursor(text: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        format!(
            "`{text}` is not a page of this list; pass the `next` of the page before, or leave `after` out to start again"
        ),
        "after",
    )
}

/// The page of `items` (in the list's order) that `query` asks for, and the key of its last
/// item when more follow. `key` names each item uniquely.
pub fn cut<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    query: &PageQuery,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = limit(query.limit)?;
    let start = match &query.after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|item| &key(item) == after)
                .ok_or_else(|| bad_cursor(after))?
                + 1
        }
    };
    let mut page: Vec<T> = items.into_iter().skip(start).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more { page.last().map(&key) } else { None };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<usize>, after: Option<&str>) -> PageQuery {
        PageQuery {
            limit,
            after: after.map(str::to_string),
        }
    }

    #[test]
    fn pages_follow_each_other_to_the_end_and_every_item_comes_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = cut(
                items.clone(),
                ToString::to_string,
                &query(Some(3), after.as_deref()),
            )
            .expect("a page");
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn a_list_that_fits_has_no_next_page() {
        let (page, next) =
            cut(vec![1, 2, 3], ToString::to_string, &query(Some(3), None)).expect("a page");
        assert_eq!((page, next), (vec![1, 2, 3], None));
    }

    #[test]
    fn a_bad_limit_or_cursor_names_its_field() {
        for limit in [0, PAGE_MAX + 1] {
            let refused = cut(vec![1], ToString::to_string, &query(Some(limit), None))
                .expect_err("out of range");
            assert_eq!(refused.field.as_deref(), Some("limit"));
        }
        let refused =
            cut(vec![1], ToString::to_string, &query(None, Some("9"))).expect_err("no such item");
        assert_eq!(refused.field.as_deref(), Some("after"));
        assert!(refused.message.contains("`9`"), "{}", refused.message);
    }
}
