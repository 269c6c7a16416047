#include "step_loop.h"

#include <unistd.h>

#include <cmath>
#include <iostream>

#include <tern/core/autocast.h>
#include <tern/core/ops.h>
#include <tern/models/data/text_dataset.h>
#include <tern/models/gpt2/model.h>
#include <tern/nn/optim/optimizer.h>

#include "ranks.h"

namespace tern::cli {

double optimizer_step(const StepParts& p, double lr) {
  p.opt.set_lr(lr);
  p.opt.zero_grad();
  // The losses are read after the update: reading one earlier would make the host wait for the
  // forward pass on a GPU before it could queue the backward.
  std::vector<Tensor> losses;
  for (int64_t a = 0; a < p.grad_accum; ++a) {
    data::Batch b = p.sampler.next(p.device);
    if (p.ranks) b = p.ranks->shard(b);
    Tensor loss;
    {
      AutocastGuard precision(p.autocast);
      loss = p.model.forward(b.x, b.y).loss;
    }
    losses.push_back(loss.detach());
    Tensor scaled = p.grad_accum > 1 ? mul(loss, 1.0 / static_cast<double>(p.grad_accum)) : loss;
    if (p.ranks)
      p.ranks->backward(scaled, a + 1 == p.grad_accum);
    else
      scaled.backward();
  }
  if (p.ranks) p.ranks->finish_gradients();  // before clipping, whose norm is then the global one
  if (p.grad_clip > 0) nn::optim::clip_grad_norm_on_device(p.params, p.grad_clip);
  p.opt.step();
  double loss_sum = 0;
  for (const Tensor& l : losses) loss_sum += l.item<double>();
  const double loss = loss_sum / static_cast<double>(p.grad_accum);
  return p.ranks ? p.ranks->mean(loss) : loss;
}

StepLoop::StepLoop(StepLoopOptions o, std::ostream& out, MetricsCsv* csv, std::function<double()> elapsed)
    : o_(std::move(o)), out_(out), csv_(csv), elapsed_(std::move(elapsed)), last_val_(o_.last_val) {
  tty_ = &out_ == &std::cout && ::isatty(STDOUT_FILENO);
}

void StepLoop::write_row(int64_t step, double lr, double train_loss, double val, double tokens_per_s) {
  try {
    if (csv_) csv_->row(step, lr, train_loss, val, tokens_per_s, elapsed_());
  } catch (const Error& e) {
    if (!on_metrics_failure) throw;
    on_metrics_failure(e);
    throw;  // a hook that returned has not handled it
  }
}

void StepLoop::record_val(int64_t step, double val) {
  if (std::isnan(val)) return;
  last_val_ = val;
  write_row(step, kNoValue, kNoValue, val, kNoValue);
}

void StepLoop::line(const std::string& s) {
  if (tty_) out_ << "\r\033[K";
  out_ << s << "\n";
  out_.flush();
}

std::string StepLoop::progress(int64_t step, double lr, double loss, double rate, double eta) const {
  std::string s = o_.label + " " + std::to_string(step) + "/" + std::to_string(o_.steps);
  s += " | loss " + (std::isnan(loss) ? std::string("-") : fmt("%.4f", loss));
  s += " | val " + (std::isnan(last_val_) ? std::string("-") : fmt("%.4f", last_val_));
  s += " | lr " + fmt("%.2e", lr);
  s += " | " + human_count(rate) + " tok/s";
  s += " | " + format_duration(elapsed_()) + " elapsed | ETA " + format_duration(eta);
  return s;
}

int64_t StepLoop::run(int64_t first, const StepHooks& hooks) {
  const Stopwatch session;
  double last_print = -1, ema_dt = kNoValue;
  int64_t step = first;
  auto stopping = [this] { return should_stop ? should_stop() : stop_signal() != 0; };
  while (step < o_.steps && !stopping()) {
    const Stopwatch sw;
    const StepHooks::Result r = hooks.step(step + 1);
    ++step;
    // tokens/s counts the step alone; an evaluation after it is not training throughput.
    const double dt = sw.seconds();
    ema_dt = std::isnan(ema_dt) ? dt : 0.9 * ema_dt + 0.1 * dt;

    double val = kNoValue;
    if (hooks.evaluate && !stopping()) {
      val = hooks.evaluate(step);
      if (!std::isnan(val)) last_val_ = val;
    }
    write_row(step, r.lr, r.train_loss, val, static_cast<double>(o_.tokens_per_step) / dt);

    const double per_step = session.seconds() / static_cast<double>(step - first);
    const double eta = static_cast<double>(o_.steps - step) * per_step;
    const double rate = static_cast<double>(o_.tokens_per_step) / ema_dt;
    if (!std::isnan(val)) {
      line(progress(step, r.lr, r.train_loss, rate, eta));
    } else if (tty_) {
      if (session.seconds() - last_print >= 0.1 || step == o_.steps) {
        out_ << "\r\033[K" << progress(step, r.lr, r.train_loss, rate, eta);
        out_.flush();
        last_print = session.seconds();
      }
    } else if (step % o_.log_interval == 0 || step == o_.steps) {
      line(progress(step, r.lr, r.train_loss, rate, eta));
    }
    if (hooks.after) hooks.after(step);
  }
  if (tty_) {
    out_ << "\r\033[K";
    out_.flush();
  }
  return step;
}

}  // namespace tern::cli
