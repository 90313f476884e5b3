//! The app list's query: order, direction and page.

crate::choice::choice! {
    /// The list's sort key; `dns` sorts by `dns.name`.
    AppOrder {
        Protocol = "protocol",
        AppId = "app_id",
        CreatedOn = "created_on",
        ModifiedOn = "modified_on",
        Dns = "dns",
    }
}

crate::choice::choice! {
    Direction { Asc = "asc", Desc = "desc" }
}

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

/// One page of a sorted list. Ties on the sort key are broken by app id, so pages never
/// overlap while a client walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppListQuery {
    pub order: AppOrder,
    pub direction: Direction,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl Default for AppListQuery {
    fn default() -> Self {
        AppListQuery {
            order: AppOrder::Dns,
            direction: Direction::Asc,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl AppListQuery {
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}
