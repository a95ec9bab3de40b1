/*
 * about: what --version prints: postie's version, the libraries it runs with (GnuTLS,
 * libidn2, popt), the paths it was built with and finds, and what it can do (as msmtp
 * --version does).
 */
#ifndef POSTIE_ABOUT_H
#define POSTIE_ABOUT_H

#include <stdio.h>

/* Print the --version text to OUT. Reads nothing but the environment (the XDG folders). */
void about_print(FILE *out);

#endif
