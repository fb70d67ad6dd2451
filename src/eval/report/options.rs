//! What a report is asked for, and what it wrote.

/// Report settings.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Page title.
    pub title: String,
    /// Compute the PCA of test-set embeddings (loads each encoder and the test split).
    pub embeddings: bool,
    /// At most this many test images in the PCA plot (class-stratified).
    pub pca_points: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            title: "SupCon report".into(),
            embeddings: true,
            pca_points: 1000,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSummary {
    /// Runs covered.
    pub runs: usize,
    /// Plots drawn (inline SVGs).
    pub plots: usize,
    /// Ids of the sections present.
    pub sections: Vec<String>,
}
