//! How fast journey files are read, checked, written and drawn.
//!
//! `cargo bench -p waymark-map --bench journey`. Results are recorded in BENCHMARKS.md.

use std::path::Path;

use waymark_journey::Journey;

fn main() {
    divan::main();
}

fn source(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name),
    )
    .expect("example")
}

/// A large journey: `stages` stages of `per_stage` touchpoints each, written by the writer.
fn synthetic(stages: usize, per_stage: usize) -> String {
    let mut journey = waymark_journey::template::universal("big", "A large synthetic journey");
    let template = journey.stages[0].touchpoints[0].clone();
    journey.stages = (0..stages)
        .map(|s| {
            let mut stage = journey.stages[s % journey.stages.len()].clone();
            stage.id = format!("stage-{s}");
            stage.touchpoints = (0..per_stage)
                .map(|t| {
                    let mut tp = template.clone();
                    tp.id = format!("tp-{s}-{t}");
                    tp.name = format!("Touchpoint {t} of stage {s}, with a longer name to wrap");
                    tp.experience.emotion = Some(((s + t) % 5) as i8 - 2);
                    tp.target = Some(std::time::Duration::from_secs(600));
                    tp
                })
                .collect();
            stage
        })
        .collect();
    waymark_journey::write(&journey)
}

fn parsed(text: &str) -> Journey {
    waymark_journey::check(text).journey.expect("valid")
}

const FILES: [&str; 2] = [
    "training-request/as-is.yaml",
    "loan-application/journey.yaml",
];

#[divan::bench(args = FILES)]
fn check_example(bencher: divan::Bencher, name: &str) {
    let text = source(name);
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| waymark_journey::check(divan::black_box(&text)));
}

#[divan::bench(args = FILES)]
fn render_html_example(bencher: divan::Bencher, name: &str) {
    let journey = parsed(&source(name));
    bencher.bench(|| waymark_map::html(divan::black_box(&journey)));
}

#[divan::bench(args = [100, 1000])]
fn check_synthetic(bencher: divan::Bencher, touchpoints: usize) {
    let text = synthetic(touchpoints / 10, 10);
    bencher
        .counter(divan::counter::ItemsCount::new(touchpoints))
        .bench(|| waymark_journey::check(divan::black_box(&text)));
}

#[divan::bench(args = [100, 1000])]
fn render_svg_synthetic(bencher: divan::Bencher, touchpoints: usize) {
    let journey = parsed(&synthetic(touchpoints / 10, 10));
    bencher
        .counter(divan::counter::ItemsCount::new(touchpoints))
        .bench(|| waymark_map::svg(divan::black_box(&journey)));
}

#[divan::bench(args = [1000])]
fn write_synthetic(bencher: divan::Bencher, touchpoints: usize) {
    let journey = parsed(&synthetic(touchpoints / 10, 10));
    bencher.bench(|| waymark_journey::write(divan::black_box(&journey)));
}
