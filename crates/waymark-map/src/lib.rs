use waymark_journey::Journey;
pub fn svg(_j: &Journey) -> String {
    String::new()
}
pub fn html(_j: &Journey) -> String {
    String::new()
}
