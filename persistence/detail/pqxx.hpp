#pragma once
/// The one place that includes libpqxx (private to taskrt_persistence).
/// libpqxx 6 enables its std::optional support only with this macro.

#ifndef PQXX_HAVE_OPTIONAL
#define PQXX_HAVE_OPTIONAL 1
#endif
#include <pqxx/pqxx>
