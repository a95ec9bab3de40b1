<?php
// symfony.php COMMAND: send one message with Symfony Mailer's SendmailTransport (Debian's
// php-symfony-mailer), running COMMAND (e.g. "/path/sendmail -bs" or "/path/sendmail -oi -t").
// Prints "sent MESSAGE-ID" on success; on failure prints the exception and exits 1.
// Called by tests/callers/symfony.py.

require_once '/usr/share/php/Symfony/Component/Mailer/autoload.php';

use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Email;

$transport = new SendmailTransport($argv[1]);
$mailer = new Mailer($transport);
$email = (new Email())
	->from('App <app@example.test>')
	->to('user@example.test')
	->cc('cc@example.test')
	->bcc('hidden@example.test')
	->subject('Symfony Mailer through postie')
	->text("Hello from Symfony Mailer.\n.\n..two dots\n.leading dot\nThe end.\n");
try {
	$mailer->send($email);
	// The transport says QUIT when it goes (SmtpTransport::__destruct).
	unset($mailer, $transport);
} catch (\Throwable $e) {
	fwrite(STDOUT, 'error: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
	exit(1);
}
echo "sent\n";
