/* storage/buf.h moved to base/buf.h (the bottom layer); this forwarding header goes once
 * every include names the new place. */
#include "base/buf.h"
