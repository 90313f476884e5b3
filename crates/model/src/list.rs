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

impl AppListQuery {
    /// This page of `apps`, sorted as the stores sort (text byte-wise, ties by id), and how
    /// many there are in all: for a list served from memory.
    pub fn page_of<'a>(
        &self,
        apps: impl IntoIterator<Item = &'a crate::App>,
    ) -> (Vec<crate::App>, u64) {
        let key = |a: &crate::App| -> String {
            match self.order {
                AppOrder::Protocol => a.config.protocol.as_str().to_owned(),
                AppOrder::AppId => a.id.clone(),
                AppOrder::CreatedOn => crate::timestamp(a.created_on),
                AppOrder::ModifiedOn => crate::timestamp(a.modified_on),
                AppOrder::Dns => a.config.dns.name.to_ascii_lowercase(),
            }
        };
        let mut all: Vec<(String, &crate::App)> = apps.into_iter().map(|a| (key(a), a)).collect();
        all.sort_by(|(ka, a), (kb, b)| (ka, &a.id).cmp(&(kb, &b.id)));
        if self.direction == Direction::Desc {
            all.reverse();
        }
        let total = all.len() as u64;
        let page = all
            .into_iter()
            .skip(usize::try_from(self.offset()).unwrap_or(usize::MAX))
            .take(self.per_page as usize)
            .map(|(_, a)| a.clone())
            .collect();
        (page, total)
    }
}
